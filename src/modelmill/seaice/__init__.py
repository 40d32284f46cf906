"""The sea-ice monitoring line: ice-type classifier, ConvLSTM forecaster and Siamese change detector."""
