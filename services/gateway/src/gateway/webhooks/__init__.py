"""Users' webhooks as the gateway serves them (``/me/webhooks``), and the mail to an owner whose
endpoint was disabled; the webhooks service owns the endpoints and sends the deliveries."""
