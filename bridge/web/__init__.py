"""The HTTP surfaces, one blueprint each: webhooks, activities, the leads API, health and metrics."""
