-- For warehouse (SQL)
INSERT INTO config.config_synapse_extract_objects (
    object_id,
    object_name,
    active_yn,
    sync_direction,
    source_type,
    source_schema,
    source_object,
    target_schema,
    target_object,
    sync_type,
    sync_column,
    sync_frequency,
    filter_condition,
    column_mappings
) VALUES (
    'CUSTOMER_SYNC',
    'Customer Data Sync',
    'Y',
    'FABRIC_TO_SYNAPSE',
    'TABLE',
    'dbo',
    'customers',
    'staging',
    'stg_customers',
    'INCREMENTAL',
    'modified_date',
    'HOURLY',
    'active_flag = 1',
    '{"customer_id": "customer_id", "customer_name": "customer_name"}'
);

INSERT INTO config.config_synapse_extract_objects VALUES (
    'CUST_DAILY_SYNC',
    'Daily Customer Sync to Synapse',
    'Y',
    'FABRIC_TO_SYNAPSE',
    'TABLE',
    'dbo',
    'dim_customer',
    'datamart',
    'dim_customer',
    'FULL',
    NULL,
    'DAILY',
    'active_flag = 1',
    NULL
);

INSERT INTO config.config_synapse_extract_objects VALUES (
    'ORDER_REALTIME_SYNC',
    'Real-time Order Synchronization',
    'Y',
    'BIDIRECTIONAL',
    'TABLE',
    'sales',
    'orders',
    'sales',
    'orders',
    'INCREMENTAL',
    'last_updated',
    'CONTINUOUS',
    NULL,
    '{"order_id": "order_id", "customer_id": "customer_id", "order_total": "order_total"}'
);
