"""Every patch ChatLens makes to a third-party library, each guarded by the version it was checked on."""
