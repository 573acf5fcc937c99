"""Gold transforms: DataFrame in, DataFrame out. No reads, writes, clocks or config here."""
