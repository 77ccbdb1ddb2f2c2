"""clinic-router: a call routing engine for clinics' contact centres, on Asterisk ARI."""

__version__ = "0.1.0"
