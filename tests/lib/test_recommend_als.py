"""The recommender model: ALS fit on co-purchase groups, top-k and the logged pipeline's stages."""

from datetime import date

from loyalty import conf
from loyalty.ml.recommend import als, settings


def d(text):
    return date.fromisoformat(text)


def test_fit_recovers_co_purchase_groups_and_pipeline_scores_pairs(spark):
    a, b = ["a1", "a2", "a3"], ["b1", "b2", "b3"]
    rows = [(f"m{i}", item, "A" if item in a else "B", d("2026-10-05"))
            for i in range(1, 7) for item in (a if i <= 3 else b)]
    rows += [("m7", "a1", "A", d("2026-10-05")), ("m7", "a2", "A", d("2026-10-05"))]
    pl = spark.createDataFrame(rows, "member_id string, product_id string, category string, business_date date") \
        .selectExpr("*", "1.0 AS amount")
    cfg = conf.load("test", ["ml.recommender.rank=3", "ml.recommender.max_iter=10", "ml.recommender.reg_param=0.01"])
    fitted = als.fit(pl, d("2026-10-11"), settings.from_conf(cfg))
    assert (fitted.interactions, fitted.members_n, fitted.products_n, fitted.category_interactions) == (20, 7, 6, 7)
    users = fitted.members.where("member_id = 'm7'")
    top = als.als_top(spark, fitted.stages.product_als, fitted.stages.product_indexer, users, 3)
    assert sorted(r["product_id"] for r in top.collect()) == a
    assert [r["rank"] for r in top.orderBy("rank").collect()] == [1, 2, 3]
    model = fitted.stages.pipeline()
    found = als.stages(model)
    assert found.category_als.getItemCol() == "category_idx"
    pairs = spark.createDataFrame([(fitted.members.where("member_id = 'm7'").first()["member_idx"], "a3", "B")],
                                  "member_idx int, product_id string, category string")
    out = model.transform(pairs).first()
    assert out["prediction"] is not None and out["category_prediction"] is not None
    fitted.unpersist()
