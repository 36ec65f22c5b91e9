"""cdhelper: Continuous Delivery and Continuous Deployment for GitHub Actions."""

__version__ = "0.1.0"
