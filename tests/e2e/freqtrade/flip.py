"""A Freqtrade strategy that trades all the time, for tests/e2e/test_freqtrade.py: in on every
candle without a position, out after a minute (its ROI)."""

from freqtrade.strategy import IStrategy
from pandas import DataFrame


class Flip(IStrategy):
    INTERFACE_VERSION = 3
    timeframe = "1m"
    minimal_roi = {"1": -1}
    stoploss = -0.5
    startup_candle_count = 0
    process_only_new_candles = True

    def populate_indicators(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        return dataframe

    def populate_entry_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe["enter_long"] = 1
        return dataframe

    def populate_exit_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe["exit_long"] = 0
        return dataframe
