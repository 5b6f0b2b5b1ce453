"""Test harness for the end-to-end suite: a fake Telegram DC, the proxy under test, clients."""
