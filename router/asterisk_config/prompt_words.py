"""The words of the prompts the product and the example rules use, per language.

`clinic-router prompts list` shows them (what to record), `prompts generate` speaks them
with espeak-ng for a first day, and the sandbox generates its demo prompts from them.
A clinic's own prompt names (its menus) have no words here: the admin records them.
"""

from __future__ import annotations

# name -> language -> text: the router's own prompts and those config/rules.yaml uses.
PROMPT_WORDS: dict[str, dict[str, str]] = {
    "clinic-main-menu": {
        "ru": "Здравствуйте! Вы позвонили в клинику Здоровье.",
        "en": "Hello! You have reached the Zdorovye clinic.",
    },
    "clinic-opt-paid": {"ru": "Платные услуги, нажмите 1.", "en": "Paid services, press 1."},
    "clinic-opt-oms": {"ru": "О М С, нажмите 2.", "en": "State insurance, press 2."},
    "clinic-opt-dms": {"ru": "Д М С, нажмите 3.", "en": "Private insurance, press 3."},
    "clinic-opt-checkup": {"ru": "Чекап, нажмите 4.", "en": "Check-up programmes, press 4."},
    "clinic-opt-results": {
        "ru": "Результаты анализов и справки, нажмите 5.",
        "en": "Test results and certificates, press 5.",
    },
    "clinic-opt-dentistry": {"ru": "Стоматология, нажмите 6.", "en": "Dentistry, press 6."},
    "clinic-opt-children": {"ru": "Детское отделение, нажмите 7.", "en": "Children, press 7."},
    "clinic-opt-english": {"ru": "For English, press 9.", "en": "For English, press 9."},
    "clinic-appointment-menu": {
        "ru": "Здравствуйте! Вы записаны к нам на приём.",
        "en": "Hello! You have an appointment with us.",
    },
    "clinic-opt-appointment": {
        "ru": "Если вы звоните по поводу записи, нажмите 1.",
        "en": "About your appointment, press 1.",
    },
    "clinic-visit-today": {"ru": "Ваш приём сегодня в", "en": "Your appointment is today at"},
    "clinic-visit-tomorrow": {"ru": "Ваш приём завтра в", "en": "Your appointment is tomorrow at"},
    "clinic-opt-other": {"ru": "Другой вопрос, нажмите 2.", "en": "Anything else, press 2."},
    "clinic-invalid-key": {
        "ru": "Такой клавиши нет в меню.",
        "en": "That key is not in the menu.",
    },
    "clinic-which-patient": {
        "ru": "Этот номер записан на нескольких пациентов. Выберите год рождения пациента.",
        "en": "This number belongs to several patients. Choose the patient's year of birth.",
    },
    "clinic-closed-we-will-call-back": {
        "ru": "Клиника сейчас закрыта. Мы перезвоним вам в рабочее время.",
        "en": "The clinic is closed now. We will call you back during opening hours.",
    },
    "sorry-we-will-call-back": {
        "ru": "Простите, все операторы заняты. Мы вам перезвоним.",
        "en": "Sorry, all operators are busy. We will call you back.",
    },
    "leave-a-message-en": {
        "ru": "Оставьте сообщение после сигнала.",
        "en": "Please leave a message after the tone.",
    },
    "queue-your-call-is-important": {
        "ru": "Ваш звонок очень важен для нас. Пожалуйста, оставайтесь на линии.",
        "en": "Your call is important to us. Please stay on the line.",
    },
    # "Keep my place, call me back" (router/engine/inbound/keep_place.py)
    "clinic-press-5-callback": {
        "ru": "Чтобы не ждать на линии, нажмите 5: мы перезвоним, сохранив вашу очередь.",
        "en": "To be called back without losing your place, press 5.",
    },
    "clinic-callback-confirm": {
        "ru": "Нажмите 1 или подождите, и мы перезвоним на этот номер. "
        "Или наберите другой номер и нажмите решётку.",
        "en": "Press 1 or wait to be called back on this number, "
        "or enter another number followed by the hash key.",
    },
    "clinic-callback-invalid-number": {
        "ru": "Этот номер не подходит.",
        "en": "That number is not valid.",
    },
    "clinic-callback-promise": {"ru": "Мы вам перезвоним.", "en": "We will call you back."},
    "clinic-callback-within": {"ru": "Примерно через", "en": "In about"},
    "clinic-callback-opening-hours": {
        "ru": "когда клиника откроется.",
        "en": "when the clinic opens.",
    },
    # What the operator hears before the patient is dialled (the callback whisper)
    "clinic-callback": {"ru": "Обратный звонок.", "en": "Callback."},
    **{
        f"clinic-callback-{reason}": texts
        for reason, texts in {
            "abandoned": {"ru": "Не дождался ответа.", "en": "Hung up while waiting."},
            "abandoned_in_ivr": {"ru": "Положил трубку в меню.", "en": "Hung up in the menu."},
            "no_operator": {"ru": "Не было свободных операторов.", "en": "Nobody was free."},
            "max_wait": {"ru": "Слишком долгое ожидание.", "en": "Waited too long."},
            "after_hours": {"ru": "Звонил в нерабочее время.", "en": "Called after hours."},
            "requested": {"ru": "Просил перезвонить.", "en": "Asked to be called back."},
            "keep_place": {"ru": "Просил перезвонить.", "en": "Asked to be called back."},
            "fallback_unanswered": {
                "ru": "Звонок без ответа.",
                "en": "An unanswered call.",
            },
        }.items()
    },
}
