// @generated automatically by Diesel CLI.

diesel::table! {
    affiliate_visits (partner_id, day) {
        partner_id -> Uuid,
        day -> Date,
        visits -> Int8,
    }
}

diesel::table! {
    api_tokens (id) {
        id -> Uuid,
        user_id -> Uuid,
        name -> Text,
        token_hash -> Text,
        token_prefix -> Text,
        created_at -> Timestamptz,
        last_used_at -> Nullable<Timestamptz>,
        expires_at -> Nullable<Timestamptz>,
        revoked_at -> Nullable<Timestamptz>,
        organization_id -> Nullable<Uuid>,
    }
}

diesel::table! {
    attributions (customer_id) {
        customer_id -> Uuid,
        partner_id -> Uuid,
        kind -> Text,
        evidence -> Jsonb,
        recorded_at -> Timestamptz,
        fixed_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    audit_log (id) {
        id -> Int8,
        occurred_at -> Timestamptz,
        actor_user_id -> Nullable<Uuid>,
        acting_organization_id -> Nullable<Uuid>,
        on_behalf_of_organization_id -> Nullable<Uuid>,
        impersonator_user_id -> Nullable<Uuid>,
        action -> Text,
        subject_type -> Text,
        subject_id -> Text,
        changes -> Jsonb,
        delegated_session_id -> Nullable<Uuid>,
    }
}

diesel::table! {
    billing_file_chunks (run_id, format, seq) {
        run_id -> Uuid,
        format -> Text,
        seq -> Int4,
        data -> Bytea,
    }
}

diesel::table! {
    billing_files (run_id, format) {
        run_id -> Uuid,
        format -> Text,
        size -> Int8,
        sha256 -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    billing_run_totals (run_id, currency) {
        run_id -> Uuid,
        partner_id -> Nullable<Uuid>,
        #[max_length = 3]
        currency -> Bpchar,
        lines -> Int8,
        amount -> Numeric,
    }
}

diesel::table! {
    billing_runs (id) {
        id -> Uuid,
        audience -> Text,
        partner_id -> Nullable<Uuid>,
        period_start -> Date,
        period_end -> Date,
        version -> Int4,
        scheduled -> Bool,
        csv_separator -> Text,
        csv_bom -> Bool,
        status -> Text,
        lines_written -> Int8,
        line_count -> Nullable<Int8>,
        error -> Nullable<Text>,
        requested_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
        started_at -> Nullable<Timestamptz>,
        finished_at -> Nullable<Timestamptz>,
        expires_at -> Timestamptz,
    }
}

diesel::table! {
    business_licences (id) {
        id -> Uuid,
        organization_id -> Uuid,
        module_id -> Uuid,
        kind -> Text,
        trial_id -> Nullable<Uuid>,
        order_id -> Nullable<Uuid>,
        active -> Bool,
        starts_at -> Timestamptz,
        ends_at -> Nullable<Timestamptz>,
        deactivated_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        billable_from -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    commissions (id) {
        id -> Uuid,
        partner_id -> Uuid,
        customer_id -> Uuid,
        order_id -> Uuid,
        order_line_id -> Uuid,
        kind -> Text,
        clawback_of -> Nullable<Uuid>,
        credit_note_id -> Nullable<Uuid>,
        #[max_length = 3]
        currency -> Bpchar,
        base_amount -> Numeric,
        rate -> Numeric,
        amount -> Numeric,
        state -> Text,
        earned_at -> Timestamptz,
        approve_after -> Timestamptz,
        approved_at -> Nullable<Timestamptz>,
        paid_at -> Nullable<Timestamptz>,
        reversed_at -> Nullable<Timestamptz>,
        declined_at -> Nullable<Timestamptz>,
        decline_reason -> Nullable<Text>,
        payout_id -> Nullable<Uuid>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    commission_totals (partner_id, state) {
        partner_id -> Uuid,
        state -> Text,
        amount -> Numeric,
        commissions -> Int8,
    }
}

diesel::table! {
    credit_notes (id) {
        id -> Uuid,
        number -> Text,
        invoice_id -> Uuid,
        order_line_id -> Uuid,
        amount -> Numeric,
        reason -> Text,
        recorded_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    customer_invitations (id) {
        id -> Uuid,
        partner_id -> Uuid,
        invited_by -> Nullable<Uuid>,
        email -> Text,
        company_name -> Text,
        contact_name -> Nullable<Text>,
        language -> Text,
        #[max_length = 2]
        country -> Nullable<Bpchar>,
        commission_rate -> Numeric,
        debtor_number -> Nullable<Text>,
        customer_type -> Text,
        token_hash -> Text,
        generation -> Int4,
        expires_at -> Timestamptz,
        sent_at -> Timestamptz,
        accepted_at -> Nullable<Timestamptz>,
        revoked_at -> Nullable<Timestamptz>,
        organization_id -> Nullable<Uuid>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    delegated_sessions (id) {
        id -> Uuid,
        kind -> Text,
        user_id -> Uuid,
        partner_id -> Uuid,
        customer_id -> Uuid,
        impersonated_user_id -> Nullable<Uuid>,
        reason -> Nullable<Text>,
        started_at -> Timestamptz,
        expires_at -> Timestamptz,
        ended_at -> Nullable<Timestamptz>,
        ended_by -> Nullable<Uuid>,
    }
}

diesel::table! {
    dev_clock (id) {
        id -> Bool,
        offset_seconds -> Int8,
    }
}

diesel::table! {
    email_deliveries (id) {
        id -> Uuid,
        event_key -> Text,
        template -> Text,
        recipient -> Text,
        language -> Text,
        params -> Jsonb,
        status -> Text,
        attempts -> Int4,
        claimed_at -> Nullable<Timestamptz>,
        sent_at -> Nullable<Timestamptz>,
        last_error -> Nullable<Text>,
        created_at -> Timestamptz,
        claimed_by_job -> Nullable<Text>,
    }
}

diesel::table! {
    grant_requests (id) {
        id -> Uuid,
        link_id -> Uuid,
        customer_id -> Uuid,
        partner_id -> Uuid,
        permissions -> Array<Nullable<Text>>,
        message -> Nullable<Text>,
        requested_by -> Nullable<Uuid>,
        requested_at -> Timestamptz,
        expires_at -> Timestamptz,
        decision -> Nullable<Text>,
        decided_by -> Nullable<Uuid>,
        decided_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    identity_links (id) {
        id -> Uuid,
        user_id -> Uuid,
        provider -> Text,
        issuer -> Text,
        subject -> Text,
        tenant_id -> Nullable<Text>,
        object_id -> Nullable<Text>,
        email -> Nullable<Text>,
        linked_via -> Text,
        counts_for_sso -> Bool,
        created_at -> Timestamptz,
        last_used_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    integrations (id) {
        id -> Uuid,
        organization_id -> Uuid,
        kind -> Text,
        name -> Text,
        settings -> Jsonb,
        active -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    invoices (id) {
        id -> Uuid,
        number -> Text,
        order_id -> Uuid,
        organization_id -> Uuid,
        #[max_length = 3]
        currency -> Bpchar,
        amount -> Numeric,
        status -> Text,
        payment_token_hash -> Text,
        payment_provider -> Text,
        provider_reference -> Nullable<Text>,
        due_at -> Timestamptz,
        paid_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    job_runs (id) {
        id -> Int8,
        job_id -> Text,
        queue -> Text,
        worker -> Text,
        attempt -> Int4,
        started_at -> Timestamptz,
        finished_at -> Nullable<Timestamptz>,
        outcome -> Nullable<Text>,
        error -> Nullable<Text>,
    }
}

diesel::table! {
    login_throttle (key) {
        key -> Text,
        failures -> Int4,
        window_started_at -> Timestamptz,
        blocked_until -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    mailbox (id) {
        id -> Uuid,
        delivery_id -> Nullable<Uuid>,
        message_id -> Text,
        sender -> Text,
        recipient -> Text,
        subject -> Text,
        body_text -> Text,
        body_html -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    memberships (id) {
        id -> Uuid,
        organization_id -> Uuid,
        user_id -> Uuid,
        role -> Text,
        permissions -> Array<Nullable<Text>>,
        extension -> Nullable<Text>,
        active -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        invited_email -> Nullable<Text>,
        invited_by -> Nullable<Uuid>,
        accepted_at -> Nullable<Timestamptz>,
        invite_generation -> Int4,
        invite_token_hash -> Nullable<Text>,
        invite_expires_at -> Nullable<Timestamptz>,
        profile -> Jsonb,
        last_seen_at -> Nullable<Timestamptz>,
        software_version -> Nullable<Text>,
    }
}

diesel::table! {
    modules (id) {
        id -> Uuid,
        code -> Text,
        name -> Text,
        description -> Text,
        #[max_length = 3]
        currency -> Bpchar,
        business_price -> Numeric,
        user_price -> Numeric,
        active -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    order_lines (id) {
        id -> Uuid,
        order_id -> Uuid,
        module_id -> Uuid,
        licence_kind -> Text,
        description -> Text,
        quantity -> Int4,
        unit_price -> Numeric,
        amount -> Numeric,
        period_start -> Date,
        period_end -> Date,
    }
}

diesel::table! {
    orders (id) {
        id -> Uuid,
        number -> Int8,
        organization_id -> Uuid,
        partner_id -> Nullable<Uuid>,
        created_by -> Nullable<Uuid>,
        source -> Text,
        #[max_length = 3]
        currency -> Bpchar,
        total -> Numeric,
        status -> Text,
        created_at -> Timestamptz,
        quote_id -> Nullable<Uuid>,
    }
}

diesel::table! {
    organizations (id) {
        id -> Uuid,
        name -> Text,
        is_vendor -> Bool,
        active -> Bool,
        customer_type -> Text,
        #[max_length = 2]
        country -> Nullable<Bpchar>,
        language -> Text,
        contact_email -> Nullable<Text>,
        website -> Nullable<Text>,
        billing_exempt -> Bool,
        allow_updates -> Bool,
        allow_beta -> Bool,
        signup_origin -> Text,
        affiliate_partner_id -> Nullable<Uuid>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        updates_frozen_at -> Nullable<Timestamptz>,
        require_sso -> Bool,
    }
}

diesel::table! {
    partner_customer_counts (partner_id, shard) {
        partner_id -> Uuid,
        shard -> Int2,
        customers -> Int8,
        paying -> Int8,
        in_trial -> Int8,
    }
}

diesel::table! {
    partner_registrations (id) {
        id -> Uuid,
        email -> Text,
        language -> Text,
        token_hash -> Text,
        generation -> Int4,
        expires_at -> Timestamptz,
        completed_at -> Nullable<Timestamptz>,
        organization_id -> Nullable<Uuid>,
        user_id -> Nullable<Uuid>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    partner_requests (id) {
        id -> Uuid,
        organization_id -> Uuid,
        requested_by -> Nullable<Uuid>,
        company -> Text,
        contact_name -> Text,
        contact_email -> Text,
        website -> Nullable<Text>,
        #[max_length = 2]
        country -> Bpchar,
        expected_customers -> Int4,
        message -> Nullable<Text>,
        status -> Text,
        decided_by -> Nullable<Uuid>,
        decided_at -> Nullable<Timestamptz>,
        decision_reason -> Nullable<Text>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    partners (organization_id) {
        organization_id -> Uuid,
        status -> Text,
        partner_code -> Text,
        affiliate_code -> Text,
        default_commission_rate -> Numeric,
        request_id -> Nullable<Uuid>,
        approved_by -> Nullable<Uuid>,
        approved_at -> Timestamptz,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    password_links (id) {
        id -> Uuid,
        user_id -> Uuid,
        token_hash -> Text,
        generation -> Int4,
        purpose -> Text,
        expires_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        membership_id -> Nullable<Uuid>,
    }
}

diesel::table! {
    payouts (id) {
        id -> Uuid,
        number -> Int8,
        partner_id -> Uuid,
        #[max_length = 3]
        currency -> Bpchar,
        amount -> Numeric,
        up_to -> Date,
        status -> Text,
        reference -> Nullable<Text>,
        paid_at -> Nullable<Timestamptz>,
        created_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    quotes (id) {
        id -> Uuid,
        organization_id -> Uuid,
        created_by -> Nullable<Uuid>,
        acting_organization_id -> Nullable<Uuid>,
        action -> Jsonb,
        lines -> Jsonb,
        #[max_length = 3]
        currency -> Bpchar,
        monthly_total -> Numeric,
        period_total -> Numeric,
        fingerprint -> Text,
        expires_at -> Timestamptz,
        confirmed_at -> Nullable<Timestamptz>,
        order_id -> Nullable<Uuid>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    releases (id) {
        id -> Uuid,
        version -> Text,
        channel -> Text,
        notes_md -> Text,
        file_location -> Text,
        published_by -> Nullable<Uuid>,
        published_at -> Timestamptz,
    }
}

diesel::table! {
    service_provider_links (id) {
        id -> Uuid,
        customer_id -> Uuid,
        partner_id -> Uuid,
        origin -> Text,
        commission_rate -> Numeric,
        debtor_number -> Nullable<Text>,
        granted_permissions -> Array<Nullable<Text>>,
        created_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        ended_at -> Nullable<Timestamptz>,
        ended_by -> Nullable<Uuid>,
        grants_end_at -> Nullable<Timestamptz>,
        customer_name -> Text,
        customer_active -> Bool,
        customer_created_at -> Timestamptz,
        coming_expiry -> Nullable<Timestamptz>,
        paying -> Bool,
        in_trial -> Bool,
        seats_used -> Int8,
        seats_total -> Int8,
    }
}

diesel::table! {
    sessions (id) {
        id -> Uuid,
        token_hash -> Text,
        user_id -> Uuid,
        acting_organization_id -> Nullable<Uuid>,
        user_agent -> Nullable<Text>,
        created_at -> Timestamptz,
        last_seen_at -> Timestamptz,
        expires_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
        delegated_session_id -> Nullable<Uuid>,
        identity_link_id -> Nullable<Uuid>,
    }
}

diesel::table! {
    signups (id) {
        id -> Uuid,
        email -> Text,
        first_name -> Text,
        last_name -> Text,
        language -> Text,
        password_hash -> Text,
        token_hash -> Text,
        expires_at -> Timestamptz,
        confirmed_at -> Nullable<Timestamptz>,
        user_id -> Nullable<Uuid>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    trials (id) {
        id -> Uuid,
        organization_id -> Uuid,
        module_id -> Uuid,
        max_users -> Int4,
        starts_at -> Timestamptz,
        ends_at -> Timestamptz,
        status -> Text,
        ended_at -> Nullable<Timestamptz>,
        created_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
        partner_id -> Nullable<Uuid>,
    }
}

diesel::table! {
    user_licences (id) {
        id -> Uuid,
        organization_id -> Uuid,
        module_id -> Uuid,
        user_id -> Nullable<Uuid>,
        kind -> Text,
        trial_id -> Nullable<Uuid>,
        order_id -> Nullable<Uuid>,
        active -> Bool,
        starts_at -> Timestamptz,
        ends_at -> Nullable<Timestamptz>,
        assigned_at -> Nullable<Timestamptz>,
        deactivated_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        billable_from -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    users (id) {
        id -> Uuid,
        email -> Text,
        password_hash -> Nullable<Text>,
        first_name -> Text,
        last_name -> Text,
        language -> Text,
        active -> Bool,
        email_verified_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        managed_by_organization_id -> Nullable<Uuid>,
    }
}

diesel::table! {
    job_stats (queue, minute, worker) {
        queue -> Text,
        minute -> Timestamptz,
        worker -> Text,
        done -> Int8,
        failed -> Int8,
    }
}

diesel::table! {
    job_stats_hourly (queue, hour, worker) {
        queue -> Text,
        hour -> Timestamptz,
        worker -> Text,
        done -> Int8,
        failed -> Int8,
    }
}

diesel::table! {
    queue_pauses (queue) {
        queue -> Text,
        paused_at -> Timestamptz,
        paused_by -> Nullable<Uuid>,
    }
}

diesel::table! {
    worker_processes (name) {
        name -> Text,
        host -> Text,
        pid -> Int4,
        queues -> Array<Text>,
        started_at -> Timestamptz,
        last_seen -> Timestamptz,
    }
}

diesel::joinable!(affiliate_visits -> partners (partner_id));
diesel::joinable!(api_tokens -> organizations (organization_id));
diesel::joinable!(api_tokens -> users (user_id));
diesel::joinable!(identity_links -> users (user_id));
diesel::joinable!(sessions -> identity_links (identity_link_id));
diesel::joinable!(attributions -> organizations (customer_id));
diesel::joinable!(attributions -> partners (partner_id));
diesel::joinable!(billing_runs -> users (requested_by));
diesel::joinable!(business_licences -> modules (module_id));
diesel::joinable!(business_licences -> orders (order_id));
diesel::joinable!(business_licences -> organizations (organization_id));
diesel::joinable!(business_licences -> trials (trial_id));
diesel::joinable!(commission_totals -> partners (partner_id));
diesel::joinable!(commissions -> credit_notes (credit_note_id));
diesel::joinable!(commissions -> order_lines (order_line_id));
diesel::joinable!(commissions -> orders (order_id));
diesel::joinable!(commissions -> organizations (customer_id));
diesel::joinable!(commissions -> partners (partner_id));
diesel::joinable!(commissions -> payouts (payout_id));
diesel::joinable!(credit_notes -> invoices (invoice_id));
diesel::joinable!(credit_notes -> order_lines (order_line_id));
diesel::joinable!(credit_notes -> users (recorded_by));
diesel::joinable!(customer_invitations -> organizations (organization_id));
diesel::joinable!(customer_invitations -> partners (partner_id));
diesel::joinable!(customer_invitations -> users (invited_by));
diesel::joinable!(integrations -> organizations (organization_id));
diesel::joinable!(invoices -> orders (order_id));
diesel::joinable!(invoices -> organizations (organization_id));
diesel::joinable!(mailbox -> email_deliveries (delivery_id));
diesel::joinable!(memberships -> organizations (organization_id));
diesel::joinable!(order_lines -> modules (module_id));
diesel::joinable!(order_lines -> orders (order_id));
diesel::joinable!(orders -> organizations (organization_id));
diesel::joinable!(orders -> partners (partner_id));
diesel::joinable!(orders -> users (created_by));
diesel::joinable!(partner_customer_counts -> partners (partner_id));
diesel::joinable!(partner_registrations -> organizations (organization_id));
diesel::joinable!(partner_registrations -> users (user_id));
diesel::joinable!(partner_requests -> organizations (organization_id));
diesel::joinable!(partners -> organizations (organization_id));
diesel::joinable!(partners -> partner_requests (request_id));
diesel::joinable!(partners -> users (approved_by));
diesel::joinable!(password_links -> memberships (membership_id));
diesel::joinable!(password_links -> users (user_id));
diesel::joinable!(payouts -> partners (partner_id));
diesel::joinable!(payouts -> users (created_by));
diesel::joinable!(quotes -> users (created_by));
diesel::joinable!(releases -> users (published_by));
diesel::joinable!(grant_requests -> service_provider_links (link_id));
diesel::joinable!(service_provider_links -> organizations (customer_id));
diesel::joinable!(service_provider_links -> partners (partner_id));
diesel::joinable!(signups -> users (user_id));
diesel::joinable!(trials -> modules (module_id));
diesel::joinable!(trials -> organizations (organization_id));
diesel::joinable!(trials -> partners (partner_id));
diesel::joinable!(trials -> users (created_by));
diesel::joinable!(user_licences -> modules (module_id));
diesel::joinable!(user_licences -> orders (order_id));
diesel::joinable!(user_licences -> organizations (organization_id));
diesel::joinable!(user_licences -> trials (trial_id));
diesel::joinable!(user_licences -> users (user_id));
diesel::joinable!(users -> organizations (managed_by_organization_id));

diesel::allow_tables_to_appear_in_same_query!(
    identity_links,
    affiliate_visits,
    api_tokens,
    attributions,
    audit_log,
    billing_file_chunks,
    billing_files,
    billing_run_totals,
    billing_runs,
    business_licences,
    commission_totals,
    commissions,
    credit_notes,
    customer_invitations,
    delegated_sessions,
    dev_clock,
    email_deliveries,
    grant_requests,
    integrations,
    invoices,
    job_runs,
    job_stats,
    job_stats_hourly,
    login_throttle,
    mailbox,
    memberships,
    modules,
    order_lines,
    orders,
    organizations,
    partner_customer_counts,
    partner_registrations,
    partner_requests,
    partners,
    password_links,
    payouts,
    queue_pauses,
    quotes,
    releases,
    service_provider_links,
    sessions,
    signups,
    trials,
    user_licences,
    users,
    worker_processes,
);
