//! Table definitions shared by both backends (portable SQL types only).

diesel::table! {
    orders (id) {
        id -> Text,
        organization_id -> Text,
        mode -> Text,
        number -> Text,
        currency_code -> Text,
        customer_email -> Nullable<Text>,
        customer_id -> Nullable<Text>,
        market_id -> Nullable<Text>,
        total_amount_cents -> BigInt,
        shipping_amount_cents -> BigInt,
        payment_status -> Text,
        transactions_count -> Integer,
        reference -> Nullable<Text>,
        reference_origin -> Nullable<Text>,
        metadata -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    authorizations (id) {
        id -> Text,
        organization_id -> Text,
        mode -> Text,
        order_id -> Text,
        number -> Text,
        currency_code -> Text,
        amount_cents -> BigInt,
        succeeded -> Bool,
        payment_method_type -> Nullable<Text>,
        message -> Nullable<Text>,
        error_code -> Nullable<Text>,
        error_detail -> Nullable<Text>,
        token -> Nullable<Text>,
        gateway_transaction_id -> Nullable<Text>,
        reference -> Nullable<Text>,
        reference_origin -> Nullable<Text>,
        metadata -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    captures (id) {
        id -> Text,
        organization_id -> Text,
        mode -> Text,
        order_id -> Text,
        authorization_id -> Text,
        number -> Text,
        currency_code -> Text,
        amount_cents -> BigInt,
        refund_amount_cents -> BigInt,
        refund_balance_cents -> BigInt,
        succeeded -> Bool,
        payment_method_type -> Nullable<Text>,
        message -> Nullable<Text>,
        error_code -> Nullable<Text>,
        error_detail -> Nullable<Text>,
        token -> Nullable<Text>,
        gateway_transaction_id -> Nullable<Text>,
        reference -> Nullable<Text>,
        reference_origin -> Nullable<Text>,
        metadata -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        gateway -> Text,
    }
}

diesel::table! {
    refunds (id) {
        id -> Text,
        organization_id -> Text,
        mode -> Text,
        order_id -> Text,
        reference_capture_id -> Nullable<Text>,
        authorization_id -> Nullable<Text>,
        number -> Text,
        key -> Text,
        currency_code -> Text,
        amount_cents -> BigInt,
        succeeded -> Bool,
        payment_method_type -> Nullable<Text>,
        message -> Nullable<Text>,
        error_code -> Nullable<Text>,
        error_detail -> Nullable<Text>,
        token -> Nullable<Text>,
        gateway_transaction_id -> Nullable<Text>,
        reference -> Nullable<Text>,
        reference_origin -> Nullable<Text>,
        metadata -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        target_type -> Text,
        request_hash -> Text,
        status -> Text,
        refunded_amount_cents -> BigInt,
    }
}

diesel::table! {
    refund_captures (id) {
        id -> Text,
        organization_id -> Text,
        mode -> Text,
        order_id -> Text,
        refund_id -> Text,
        capture_id -> Text,
        currency_code -> Text,
        amount_cents -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        status -> Text,
        gateway -> Text,
        gateway_transaction_id -> Nullable<Text>,
        error_code -> Nullable<Text>,
        message -> Nullable<Text>,
        checked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    record_counts (organization_id, mode, resource_type, shard) {
        organization_id -> Text,
        mode -> Text,
        resource_type -> Text,
        shard -> Integer,
        record_count -> BigInt,
    }
}

diesel::table! {
    versions (id) {
        id -> Text,
        organization_id -> Text,
        mode -> Text,
        order_id -> Text,
        resource_type -> Text,
        resource_id -> Text,
        event -> Text,
        changes -> Text,
        snapshot -> Text,
        who -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    events (id) {
        id -> Text,
        organization_id -> Text,
        mode -> Text,
        order_id -> Text,
        name -> Text,
        resource_type -> Text,
        resource_id -> Text,
        payload -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    attachments (id) {
        id -> Text,
        organization_id -> Text,
        mode -> Text,
        order_id -> Text,
        attachable_type -> Text,
        attachable_id -> Text,
        name -> Text,
        description -> Nullable<Text>,
        url -> Nullable<Text>,
        reference -> Nullable<Text>,
        reference_origin -> Nullable<Text>,
        metadata -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    webhooks (id) {
        id -> Text,
        organization_id -> Text,
        mode -> Text,
        name -> Nullable<Text>,
        topic -> Text,
        callback_url -> Text,
        include_resources -> Text,
        shared_secret -> Text,
        circuit_state -> Text,
        circuit_failure_count -> BigInt,
        disabled_at -> Nullable<Timestamp>,
        reference -> Nullable<Text>,
        reference_origin -> Nullable<Text>,
        metadata -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    event_callbacks (id) {
        id -> Text,
        organization_id -> Text,
        mode -> Text,
        webhook_id -> Text,
        callback_url -> Text,
        payload -> Text,
        response_code -> Nullable<BigInt>,
        response_message -> Nullable<Text>,
        attempt -> BigInt,
        created_at -> Timestamp,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> Text,
        organization_id -> Text,
        mode -> Text,
        webhook_id -> Text,
        event_id -> Text,
        topic -> Text,
        resource_type -> Text,
        resource_id -> Text,
        status -> Text,
        attempts -> BigInt,
        next_attempt_at -> Timestamp,
        leased_until -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::joinable!(authorizations -> orders (order_id));
diesel::joinable!(captures -> orders (order_id));
diesel::joinable!(captures -> authorizations (authorization_id));
diesel::joinable!(refunds -> orders (order_id));
diesel::joinable!(refund_captures -> refunds (refund_id));
diesel::joinable!(refund_captures -> captures (capture_id));

diesel::allow_tables_to_appear_in_same_query!(
    orders,
    authorizations,
    captures,
    refunds,
    refund_captures,
    record_counts,
    versions,
    events,
    attachments,
    webhooks,
    event_callbacks,
    webhook_deliveries,
);
