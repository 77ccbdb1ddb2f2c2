"""The CRM adapter: patient lookup by phone in the clinic's information system over HTTP."""
