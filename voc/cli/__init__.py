"""voc.cli"""
