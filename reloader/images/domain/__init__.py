"""The pure rules of image watching: references, credentials, plans, poll timing."""
