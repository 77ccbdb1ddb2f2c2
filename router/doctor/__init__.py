"""`clinic-router doctor`: what is wrong between this router and its PBX, with the fix
for each problem. `checks` judges probed facts (pure), `probe` asks Asterisk, `cli` prints
the checklist; the router runs the same checks at start (`startup`)."""
