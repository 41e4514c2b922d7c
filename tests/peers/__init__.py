"""Local peers that speak the real protocols of the notification providers on loopback: an SMTP relay
(aiosmtpd), FCM HTTP v1 with its OAuth2 token exchange, and the WhatsApp Cloud API with its webhook.
Each can be told to misbehave for a while (``Faults``) and keeps a ``Ledger`` of what it accepted."""
