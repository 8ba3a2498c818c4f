"""The recommendation engine: purchase logs, models, baskets, text similarity and offline evaluation.

Pure numerical code (numpy, scipy, implicit, wordllama); nothing here touches Django or the database, so it
runs the same on a store's own orders and on any purchase log file.
"""
