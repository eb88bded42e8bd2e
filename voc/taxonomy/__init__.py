"""voc.taxonomy"""
