"""What the window does, apart from how it looks: jobs, the listener, hint actions."""
