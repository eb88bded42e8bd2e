"""voc.text"""
