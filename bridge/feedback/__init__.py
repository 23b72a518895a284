"""Sales feedback as pure rules: which sales facts are which events (feedback.yaml), and what marketing hears."""
