"""voc.store"""
