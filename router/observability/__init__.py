"""What the router tells about itself: its log lines and the event-loop lag probe."""
