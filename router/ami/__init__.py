"""The AMI adapter: app_queue's and channels' events for AGI-mode calls (docs/agi-mode.md)."""
