"""Validation harness for the PAGEMAP_SCAN / async uffd-wp series on Linux 6.1."""
