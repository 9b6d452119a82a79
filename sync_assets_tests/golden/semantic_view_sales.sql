CREATE OR REPLACE SEMANTIC VIEW "ANALYTICS"."PBI"."SALES"
  TABLES (
    order_date AS "ANALYTICS"."DIM"."DATES" PRIMARY KEY ("Date") COMMENT = 'Power BI table Order Date',
    sales AS "ANALYTICS"."SALES"."ORDERS" COMMENT = 'Power BI table Sales'
  )
  RELATIONSHIPS (
    sales_order_date_to_order_date AS sales ("order_date") REFERENCES order_date ("Date")
  )
  FACTS (
    order_date.year AS order_date."Year",
    sales.amount AS sales."amount"
  )
  DIMENSIONS (
    order_date.date AS order_date."Date",
    sales.order_date AS sales."order_date",
    sales.status AS sales."status"
  )
  METRICS (
    sales.total_sales AS SUM(sales."amount") COMMENT = 'Power BI measure [Total Sales]',
    sales.order_count AS COUNT(*) COMMENT = 'Power BI measure [Order Count]',
    sales.paid_sales AS (SUM(CASE WHEN sales."status" = 'paid' THEN sales."amount" END)) COMMENT = 'Power BI measure [Paid Sales]'
  )
  COMMENT = 'Power BI model Sales'
