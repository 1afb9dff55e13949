# CASA site configuration used by spectuner_nb: measures data come from the
# casadata PyPI package; CASA never downloads anything and writes no log file.
import casadata

measurespath = casadata.datapath
measures_auto_update = False
data_auto_update = False
nologfile = True
# modular casatools 6.7 ignores nologfile and writes casa-<date>.log into the cwd
logfile = "/dev/null"
