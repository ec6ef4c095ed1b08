"""Pure policy decisions: classification, column levels, the SQL gate, privacy rules. No I/O."""
