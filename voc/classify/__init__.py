"""voc.classify"""
