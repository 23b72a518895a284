"""SLA rules (pure): the business calendar and the arithmetic of business time."""
