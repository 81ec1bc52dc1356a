#!/usr/bin/env bash
# A single-node SLURM cluster on this machine, for the real SLURM test (tests/test_slurm.py) and for trying
# the SLURM profile (workflow/profiles/slurm) without a cluster. Debian/Ubuntu, run as root.
#
#   bash scripts/slurm_cluster.sh install   # apt: slurm-wlm, munge, slurmdbd, mariadb; pip: faceoff[slurm]
#   bash scripts/slurm_cluster.sh start     # MariaDB + munged + slurmdbd + slurmctld + slurmd, then waits
#   eval "$(bash scripts/slurm_cluster.sh env)"   # SLURM_CONF for sbatch/squeue/sacct in this shell
#   bash scripts/slurm_cluster.sh status | stop
#   bash scripts/slurm_cluster.sh test [pytest args]   # install + start + FACEOFF_SLURM_TEST=1 pytest -m slurm
#
# Everything lives in $FACEOFF_SLURM_DIR (default /tmp/faceoff-slurm): the configs (slurm.conf, gres.conf,
# slurmdbd.conf), state, spool, logs and a private MariaDB (datadir and socket there, no TCP listener), so
# nothing under /etc/slurm or the system MariaDB is touched. The daemons talk over 127.0.0.1 (NodeAddr,
# DbdAddr, SlurmctldHost address); the node has as many CPUs as this machine and two count-only "gpu" GRES
# (no device files), so jobs that ask for `--gpus` are scheduled as on a GPU cluster. Accounting runs
# through slurmdbd because the executor plugin asks `sacct` for job states by default.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${FACEOFF_SLURM_DIR:-/tmp/faceoff-slurm}
CLUSTER=faceoff
ACCOUNT=faceoff
PARTITION=debug
NODE=$(hostname -s)
export SLURM_CONF=$DIR/etc/slurm.conf
export MYSQL_UNIX_PORT=$DIR/mysql/mysqld.sock

log() { echo "slurm_cluster: $*" >&2; }

cmd_install() {
    local pkgs=(slurm-wlm slurm-client munge slurmdbd mariadb-server)
    if ! dpkg -s "${pkgs[@]}" > /dev/null 2>&1; then
        log "apt-get install ${pkgs[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" > /dev/null
    fi
    if ! "$ROOT/.venv/bin/python" -c "import snakemake_executor_plugin_slurm" 2> /dev/null; then
        log "pip install -e .[slurm]"
        "$ROOT/.venv/bin/python" -m pip install --quiet -e "$ROOT[test,slurm]"
    fi
}

write_configs() {
    mkdir -p "$DIR"/{etc,state,spool,log,run,mysql}
    local cpus mem
    cpus=$(nproc)
    mem=$(awk '/MemTotal/ {printf "%d", $2 / 1024 * 0.8}' /proc/meminfo)
    cat > "$DIR/etc/slurm.conf" << EOF
# Written by scripts/slurm_cluster.sh: a single-node test cluster.
ClusterName=$CLUSTER
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldDebug=info
DebugFlags=Gres,Steps
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=5
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStorageTRES=gres/gpu
AccountingStoreFlags=job_comment
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2
SlurmctldParameters=enable_configless
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MinJobAge=600
ReturnToService=2
KillWait=5
GresTypes=gpu
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem Gres=gpu:2 State=UNKNOWN
PartitionName=$PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
    # Two stand-in GPU device files: SLURM counts GPU GRES by their files; no job opens them.
    mkdir -p "$DIR/dev"
    touch "$DIR/dev/gpu0" "$DIR/dev/gpu1"
    cat > "$DIR/etc/gres.conf" << EOF
NodeName=$NODE Name=gpu File=$DIR/dev/gpu[0-1]
EOF
    cat > "$DIR/etc/slurmdbd.conf" << EOF
AuthType=auth/munge
DbdAddr=127.0.0.1
DbdHost=localhost
SlurmUser=root
PidFile=$DIR/run/slurmdbd.pid
LogFile=$DIR/log/slurmdbd.log
DebugLevel=info
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=root
StorageLoc=slurm_acct_db
EOF
    chmod 600 "$DIR/etc/slurmdbd.conf"
}

alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2> /dev/null; }

wait_for() { # seconds, description, command...
    local t=$1 what=$2
    shift 2
    for _ in $(seq $((t * 5))); do
        if "$@" > /dev/null 2>&1; then return 0; fi
        sleep 0.2
    done
    log "timed out waiting for $what"
    return 1
}

start_mariadb() {
    if [ ! -d "$DIR/mysql/data/mysql" ]; then
        mkdir -p "$DIR/mysql/data"
        chown -R mysql:mysql "$DIR/mysql"
        mariadb-install-db --user=mysql --datadir="$DIR/mysql/data" --auth-root-authentication-method=socket \
            > "$DIR/log/mariadb-install.log" 2>&1
    fi
    if ! alive "$DIR/mysql/mysqld.pid"; then
        chown -R mysql:mysql "$DIR/mysql"
        mariadbd --user=mysql --datadir="$DIR/mysql/data" --socket="$MYSQL_UNIX_PORT" --skip-networking \
            --pid-file="$DIR/mysql/mysqld.pid" --log-error="$DIR/log/mariadb.log" \
            --innodb-buffer-pool-size=64M > /dev/null 2>&1 &
        wait_for 60 MariaDB mariadb --socket="$MYSQL_UNIX_PORT" -e "select 1"
    fi
}

start_munge() {
    if ! munge -n < /dev/null 2> /dev/null | unmunge > /dev/null 2>&1; then
        mkdir -p /run/munge /var/log/munge /var/lib/munge
        chown munge:munge /run/munge /var/log/munge /var/lib/munge
        if [ ! -s /etc/munge/munge.key ]; then
            dd if=/dev/urandom of=/etc/munge/munge.key bs=128 count=1 status=none
            chown munge:munge /etc/munge/munge.key
            chmod 400 /etc/munge/munge.key
        fi
        runuser -u munge -- /usr/sbin/munged
        wait_for 20 munged sh -c 'munge -n < /dev/null | unmunge'
    fi
}

cmd_start() {
    write_configs
    start_mariadb
    start_munge
    if ! alive "$DIR/run/slurmdbd.pid"; then
        /usr/sbin/slurmdbd
        wait_for 60 slurmdbd sacctmgr -i show cluster
    fi
    if ! sacctmgr -n -P show cluster format=cluster | grep -qx "$CLUSTER"; then
        sacctmgr -i add cluster "$CLUSTER" > /dev/null
    fi
    if ! sacctmgr -n -P show account format=account | grep -qx "$ACCOUNT"; then
        sacctmgr -i add account "$ACCOUNT" cluster="$CLUSTER" description=faceoff organization=faceoff > /dev/null
    fi
    if ! sacctmgr -n -P show assoc user=root format=account | grep -qx "$ACCOUNT"; then
        sacctmgr -i add user root account="$ACCOUNT" cluster="$CLUSTER" > /dev/null
    fi
    if ! alive "$DIR/run/slurmctld.pid"; then
        /usr/sbin/slurmctld
        wait_for 60 slurmctld scontrol ping
    else
        scontrol reconfigure # already up: take the configuration just written
    fi
    if ! alive "$DIR/run/slurmd.pid"; then
        # Configless: slurmd fetches the config from slurmctld and keeps it in /run/slurm/conf, where
        # commands inside jobs find it (the jobstep plugin clears SLURM_* variables, SLURM_CONF too).
        SLURM_CONF='' /usr/sbin/slurmd -N "$NODE" --conf-server 127.0.0.1 -f "$SLURM_CONF"
    fi
    if sinfo -h -N -o %T | grep -Eq "inval|drain"; then # a node drained by an earlier configuration
        scontrol update nodename="$NODE" state=resume || true
    fi
    wait_for 60 "node $NODE idle" sh -c "sinfo -h -N -o %T | grep -qx idle"
    log "up: $(sinfo -h -o '%P %D %c CPUs %m MB %G %T') (SLURM_CONF=$SLURM_CONF)"
}

cmd_stop() {
    for pidfile in "$DIR/run/slurmd.pid" "$DIR/run/slurmctld.pid" "$DIR/run/slurmdbd.pid" "$DIR/mysql/mysqld.pid"; do
        if alive "$pidfile"; then
            local pid
            pid=$(cat "$pidfile")
            kill "$pid"
            for _ in $(seq 100); do kill -0 "$pid" 2> /dev/null || break; sleep 0.1; done
        fi
    done
    log "stopped (munged left running; state in $DIR)"
}

cmd_status() {
    sinfo
    squeue
    sacctmgr -n show assoc format=cluster,account,user
}

case "${1:-}" in
    install) cmd_install ;;
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    env) echo "export SLURM_CONF=$SLURM_CONF" ;;
    test)
        shift
        cmd_install
        cmd_start
        cd "$ROOT"
        FACEOFF_SLURM_TEST=1 MALLOC_ARENA_MAX=2 .venv/bin/python -m pytest -m slurm tests/test_slurm.py "$@"
        ;;
    *)
        sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
        exit 2
        ;;
esac
