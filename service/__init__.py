"""The zhida service: Flask app (API and pages), storage, scheduler, CLI."""
