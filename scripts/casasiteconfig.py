# CASA site configuration used by spectuner_nb: measures data come from the
# casadata PyPI package; CASA never downloads anything and writes no log file.
import casadata

measurespath = casadata.datapath
measures_auto_update = False
data_auto_update = False
nologfile = True
