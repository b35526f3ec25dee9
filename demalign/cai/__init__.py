"""Constitutional AI (seed 003): SL-CAI critique/revision chains and the data made from them (`revision`)."""
