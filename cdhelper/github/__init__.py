"""The GitHub client: the only module that speaks to GitHub's API."""
