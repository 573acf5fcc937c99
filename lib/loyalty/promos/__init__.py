"""Weekly promotion selection for the retailers' marketing teams: the weekly panel of units and
promotion terms (features.py), the lift model, the pick under constraints, the backtest."""
