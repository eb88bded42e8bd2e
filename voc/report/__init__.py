"""voc.report"""
