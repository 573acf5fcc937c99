from setuptools import find_packages, setup

# Runtime pins: delta-spark 4.4.0 needs pyspark <= 4.2.0; pandas<3 because pyspark warns on
# every pandas path with pandas 3; sqlalchemy<2.1 keeps MLflow quiet.
INSTALL_REQUIRES = [
    "pyspark==4.2.0",
    "delta-spark==4.4.0",   # its jars, io.delta:delta-spark_2.13:4.4.0, are on Maven Central (4.4.1 is not)
    "deltalake>=1.6,<1.7",
    "pyarrow>=15",
    "pyyaml>=6",
    "faker>=30",
    "mlflow>=3.17,<3.19",
    "pandas<3",
    "sqlalchemy<2.1",
]

EXTRAS = {
    "test": ["pytest>=8", "chispa>=0.10"],
    "notebooks": ["nbclient>=0.10", "nbformat>=5", "ipykernel>=6", "matplotlib>=3.8"],
}
EXTRAS["dev"] = sorted({req for reqs in EXTRAS.values() for req in reqs})

setup(
    name="loyalty-lakehouse",
    version="0.1.0",
    description="PySpark job suite: partner feeds -> Delta lakehouse -> personalization for a coalition loyalty program",
    package_dir={"": "lib"},
    packages=find_packages("lib"),
    python_requires=">=3.10",
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS,
)
