"""DPO training: the tiny offline model factory, weighted DPO on TRL, and TRL/accelerate/DeepSpeed glue."""
