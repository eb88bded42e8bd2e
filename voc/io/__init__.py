"""voc.io"""
