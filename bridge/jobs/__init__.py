"""Jobs run on a schedule or from the command line: the nightly reconciliation."""
