"""What every layer uses: errors, the run context, the configuration and its schemas, versions, digests."""
