//! Inbound chat-platform webhooks (filled in below).
