DROP TABLE webhook_deliveries;
DROP TABLE event_callbacks;
DROP TABLE webhooks;
