"""The outbox blueprint: in demo and test mode (``MAIL_BACKEND=outbox``), the emails the portal would
have sent, readable by their recipients, their organizations' admins, and staff."""
