"""Provider webhooks (Twilio delivery statuses and SMS replies), authenticated by signature."""
