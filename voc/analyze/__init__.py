"""voc.analyze"""
