"""The JVM packages Spark needs beyond its own jars: the one place their coordinates live.

Coordinates follow the installed pyspark and delta-spark versions, so the Python
pins in pyproject.toml are the single source of truth. `make setup` runs

    isoguard jars resolve          (python -m lakehouse.jars resolve, the same)

which asks Maven (from Maven Central, through the local Maven repository) for
each group's jars and their runtime dependencies and copies those that Spark
does not already ship into `.jars/<group>/`. The SparkSession builder puts
those files on the classpath, so nothing is downloaded at run time. On a
cluster, pass the same coordinates to spark-submit:

    spark-submit --packages "$(isoguard jars coordinates)" ...

One more group is not for Spark: "kafka-broker", Apache Kafka's own broker jars,
which the tests run as a single-node KRaft broker in a separate JVM
(`isoguard jars resolve kafka-broker`, run by `make setup-test`).

Versions are read from the installed packages' metadata, not by importing
pyspark, so `isoguard jars --help` and `coordinates` answer at once.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from importlib import metadata, util
from pathlib import Path

from lakehouse.cli import command_parser
from lakehouse.progress import Steps

SCALA_BINARY = "2.13"
JAR_HOME = Path(__file__).resolve().parent.parent / ".jars"


def _spark_version() -> str:
    return metadata.version("pyspark")


def _spark_minor() -> str:
    return ".".join(_spark_version().split(".")[:2])


def _pyspark_home() -> Path:
    """The installed pyspark package's folder (its jars/ and conf/), found without importing it."""
    return Path(util.find_spec("pyspark").origin).parent


# Versions Maven must take instead of the ones a dependency asks for, per group (none today: the
# reachable Maven Central now serves spark-token-provider-kafka-0-10 4.2.0, which the Kafka
# connector 4.2.0 depends on, so its 4.0.0 pin is gone). A change here changes the group's
# COORDINATES stamp, so the next `resolve` fetches the group again.
MANAGED_VERSIONS: dict[str, dict[str, str]] = {}

# The broker the tests start (KRaft, Java 17). It runs in its own JVM, so its version is
# independent of the connector's kafka-clients (3.9.2), which speaks to 4.x brokers.
KAFKA_BROKER_VERSION = "4.1.1"


def coordinates(group: str) -> list[str]:
    """Maven coordinates of one group of packages: "delta", "kafka" or "kafka-broker"."""
    if group == "delta":
        delta = metadata.version("delta-spark")
        return [f"io.delta:delta-spark_{_spark_minor()}_{SCALA_BINARY}:{delta}"]
    if group == "kafka":
        return [f"org.apache.spark:spark-sql-kafka-0-10_{SCALA_BINARY}:{_spark_version()}"]
    if group == "kafka-broker":
        return [f"org.apache.kafka:kafka_{SCALA_BINARY}:{KAFKA_BROKER_VERSION}"]
    raise ValueError(f"unknown jar group {group!r}: use one of {', '.join(GROUPS)}")


SPARK_GROUPS = ("delta", "kafka")  # jars that go on Spark's classpath
GROUPS = (*SPARK_GROUPS, "kafka-broker")
DEFAULT_GROUPS = SPARK_GROUPS  # what `resolve` fetches when no group is named (`make setup`)


def group_dir(group: str) -> Path:
    return JAR_HOME / group


def jar_paths(group: str) -> list[str]:
    """The resolved jar files of a group; a clear error if setup has not run."""
    found = sorted(str(p) for p in group_dir(group).glob("*.jar"))
    if not found:
        raise RuntimeError(f"no {group} jars in {group_dir(group)}: run `make setup` (python -m lakehouse.jars resolve)")
    return found


def _artifact_name(jar: str) -> str:
    """'jackson-core-2.13.5.jar' -> 'jackson-core'."""
    return re.sub(r"-\d[\w.\-]*\.jar$", "", Path(jar).name)


def _dependency(coordinate: str) -> str:
    g, a, v = coordinate.split(":")
    return f"<dependency><groupId>{g}</groupId><artifactId>{a}</artifactId><version>{v}</version></dependency>"


def _pom(coords: list[str], managed: dict[str, str] | None = None) -> str:
    pinned = "".join(_dependency(f"{artifact}:{version}") for artifact, version in (managed or {}).items())
    return (
        '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
        "<groupId>isoguard</groupId><artifactId>jars</artifactId><version>0</version><packaging>pom</packaging>"
        f"<dependencyManagement><dependencies>{pinned}</dependencies></dependencyManagement>"
        f"<dependencies>{''.join(_dependency(c) for c in coords)}</dependencies></project>"
    )


# Some Spark poms name extra repositories that are not Maven Central; route every
# request to Central unless the user has Maven settings of their own (a corporate mirror).
_CENTRAL_ONLY = (
    "<settings><mirrors><mirror><id>central-only</id><mirrorOf>*</mirrorOf>"
    "<url>https://repo.maven.apache.org/maven2</url></mirror></mirrors></settings>"
)


def resolve(group: str) -> list[str]:
    """Copy a group's jars into .jars/<group>/ (for Spark groups, minus those Spark ships); idempotent."""
    target = group_dir(group)
    stamp = target / "COORDINATES"
    managed = MANAGED_VERSIONS.get(group, {})
    coords = coordinates(group)
    recorded = coords + [f"{artifact}:{version}" for artifact, version in managed.items()]
    if stamp.exists() and stamp.read_text().split() == recorded and any(target.glob("*.jar")):
        return jar_paths(group)
    if shutil.which("mvn") is None:
        raise RuntimeError("Maven (mvn) is required to resolve the Spark jars: install it (apt-get install maven)")
    spark_jars = set()
    if group in SPARK_GROUPS:
        spark_jars = {_artifact_name(p.name) for p in (_pyspark_home() / "jars").glob("*.jar")}
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "pom.xml").write_text(_pom(coords, managed))
        out = Path(tmp) / "out"
        cmd = ["mvn", "-q", "-B", "dependency:copy-dependencies", "-DincludeScope=runtime", f"-DoutputDirectory={out}"]
        if not (Path.home() / ".m2" / "settings.xml").exists():
            (Path(tmp) / "settings.xml").write_text(_CENTRAL_ONLY)
            cmd += ["-s", str(Path(tmp) / "settings.xml")]
        result = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True)
        if result.returncode != 0:
            lines = [l for l in result.stdout.splitlines() if "ERROR" in l] or result.stdout.splitlines()
            raise RuntimeError(f"Maven could not resolve {', '.join(coords)}: {lines[0] if lines else 'unknown error'}")
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        for jar in out.glob("*.jar"):
            if _artifact_name(jar.name) not in spark_jars:
                shutil.copy2(jar, target / jar.name)
    stamp.write_text("\n".join(recorded) + "\n")
    return jar_paths(group)


def write_spark_defaults(groups: tuple[str, ...] = SPARK_GROUPS) -> Path:
    """Make this environment's own `spark-submit` find the jars, like a configured cluster.

    A JVM that spark-submit already started ignores `spark.jars` set later in the
    SparkSession builder, so the local install gets a spark-defaults.conf.
    """
    conf_dir = _pyspark_home() / "conf"
    conf_dir.mkdir(exist_ok=True)
    target = conf_dir / "spark-defaults.conf"
    lines = [
        "# written by `isoguard jars resolve` (make setup)",
        f"spark.jars {','.join(p for g in groups for p in jar_paths(g))}",
        f"spark.pyspark.python {sys.executable}",
        f"spark.pyspark.driver.python {sys.executable}",
    ]
    target.write_text("\n".join(lines) + "\n")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = command_parser("lakehouse.jars", __doc__, "isoguard jars resolve\n"
                                                       "isoguard jars resolve kafka-broker\n"
                                                       "spark-submit --packages \"$(isoguard jars coordinates)\" ...")
    parser.add_argument("action", nargs="?", default="resolve", choices=("resolve", "coordinates"),
                        help="resolve: fetch the jars into .jars/ (default); coordinates: print them for --packages")
    parser.add_argument("groups", nargs="*", metavar="group",  # no `choices`: argparse 3.11 rejects an empty list
                        help=f"jar groups, of {', '.join(GROUPS)} (default: {' '.join(DEFAULT_GROUPS)})")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if unknown := [g for g in args.groups if g not in GROUPS]:
        parser.error(f"unknown jar group {unknown[0]!r}: use one of {', '.join(GROUPS)}")
    groups = args.groups or list(DEFAULT_GROUPS)
    try:
        if args.action == "resolve":
            if shutil.which("java") is None:
                raise RuntimeError("Java 17 is required to run Spark: install it (apt-get install openjdk-17-jre-headless)")
            with Steps("jars", groups) as progress:
                for g in groups:
                    progress.start(g)
                    print(f"{g}: {len(resolve(g))} jars in {group_dir(g)}")
                progress.finish()
            write_spark_defaults(tuple(g for g in SPARK_GROUPS if group_dir(g).exists()))
        else:
            print(",".join(c for g in groups for c in coordinates(g)))
    except (RuntimeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
