"""Support: contacts, conversations with their messages, tickets, and the knowledge-base articles.

Every channel (web chat, the API, later e-mail or messaging apps) shares these rows. A conversation's and a
ticket's status changes are appended to their event tables, never overwritten, so the history can be audited.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class Contact(models.Model):
    """Whoever asks for help: a customer (linked to their account) or a guest known by e-mail or phone."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="support_contact"
    )
    name = models.CharField(max_length=200, blank=True)
    email = models.EmailField(blank=True, db_index=True)
    # E.164 (+14155550100): how text messages (SMS, WhatsApp) find the contact who wrote.
    phone = models.CharField(max_length=30, blank=True, db_index=True)
    # When the contact sent STOP on that channel (cleared by START): nothing is texted to them while it is set.
    sms_opted_out_at = models.DateTimeField(null=True, blank=True)
    whatsapp_opted_out_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.name or self.email or self.phone or f"guest {self.pk}"

    def opted_out_of(self, channel: str) -> bool:
        if channel == Channel.SMS:
            return self.sms_opted_out_at is not None
        if channel == Channel.WHATSAPP:
            return self.whatsapp_opted_out_at is not None
        return False


class Channel(models.TextChoices):
    WEB = "web", "Web chat"
    API = "api", "API"
    EMAIL = "email", "E-mail"
    PHONE = "phone", "Phone"
    SMS = "sms", "SMS"
    WHATSAPP = "whatsapp", "WhatsApp"
    MESSENGER = "messenger", "Messenger"
    INSTAGRAM = "instagram", "Instagram"


class ContactIdentity(models.Model):
    """A contact's id on a platform that knows people only by an id of its own (Messenger's page-scoped PSID,
    Instagram's IGSID), unique per channel: the same sender always finds the same contact. No name or profile comes
    with it; the contact is called "Messenger user …1234" until an agent links it to a customer."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="identities")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    external_id = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["channel", "external_id"], name="support_identity_unique_per_channel")
        ]

    def __str__(self) -> str:
        return f"{self.channel} {self.external_id}"


class ConversationStatus(models.TextChoices):
    # The assistant is handling it; nobody on the team needs to look.
    PENDING = "pending", "Pending (assistant)"
    OPEN = "open", "Open"
    SNOOZED = "snoozed", "Snoozed"
    RESOLVED = "resolved", "Resolved"


class Priority(models.TextChoices):
    LOW = "low", "Low"
    NORMAL = "normal", "Normal"
    HIGH = "high", "High"
    URGENT = "urgent", "Urgent"


class Conversation(models.Model):
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="conversations")
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.WEB)
    status = models.CharField(
        max_length=10, choices=ConversationStatus.choices, default=ConversationStatus.PENDING, db_index=True
    )
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.NORMAL)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    team = models.CharField(max_length=50, blank=True)
    labels = models.JSONField(default=list, blank=True)
    order = models.ForeignKey(
        "orders.Order", null=True, blank=True, on_delete=models.SET_NULL, related_name="support_conversations"
    )
    # The last intent the assistant recognised, and why it handed over (shown to agents in the inbox).
    intent = models.CharField(max_length=50, blank=True)
    handoff_reason = models.CharField(max_length=200, blank=True)
    suggested_reply = models.TextField(blank=True)
    # What the assistant remembers between messages: the order being discussed, an action awaiting confirmation...
    state = models.JSONField(default=dict, blank=True)
    # Lets a guest read and continue their own conversation through the API.
    token = models.CharField(max_length=64, unique=True)
    snoozed_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_message_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ("-last_message_at", "-id")

    def __str__(self) -> str:
        return f"Conversation {self.pk} ({self.status})"


class Sender(models.TextChoices):
    CUSTOMER = "customer", "Customer"
    ASSISTANT = "assistant", "Assistant"
    AGENT = "agent", "Agent"
    SYSTEM = "system", "System"


class Message(models.Model):
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    sender = models.CharField(max_length=10, choices=Sender.choices)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    body = models.TextField()
    # Private notes are for the team only: never shown to the shopper or returned by the shopper's API.
    private = models.BooleanField(default=False)
    intent = models.CharField(max_length=50, blank=True)
    confidence = models.FloatField(null=True, blank=True)
    # Quick replies, actions proposed or taken, cited articles and products, as the API returns them.
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("created_at", "id")

    def __str__(self) -> str:
        return f"{self.sender}: {self.body[:40]}"


class ConversationEvent(models.Model):
    """The conversation's history: status, assignee, priority and label changes, with who made them and when."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="events")
    field = models.CharField(max_length=20)
    from_value = models.CharField(max_length=200, blank=True)
    to_value = models.CharField(max_length=200, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.CharField(max_length=200, blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("at", "id")

    def __str__(self) -> str:
        return f"{self.field}: {self.from_value or '-'} -> {self.to_value}"


class TicketStatus(models.TextChoices):
    OPEN = "open", "Open"
    PENDING = "pending", "Waiting for the customer"
    SOLVED = "solved", "Solved"
    CLOSED = "closed", "Closed"


class Ticket(models.Model):
    """A request followed up by the team (the seed's `SupportTickets`): subject, description, status, timestamps."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="tickets")
    conversation = models.ForeignKey(
        Conversation, null=True, blank=True, on_delete=models.SET_NULL, related_name="tickets"
    )
    order = models.ForeignKey(
        "orders.Order", null=True, blank=True, on_delete=models.SET_NULL, related_name="support_tickets"
    )
    subject = models.CharField(max_length=200)
    description = models.TextField()
    status = models.CharField(max_length=10, choices=TicketStatus.choices, default=TicketStatus.OPEN, db_index=True)
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.NORMAL)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at", "-id")

    def __str__(self) -> str:
        return f"#{self.pk} {self.subject}"


class TicketEvent(models.Model):
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="events")
    from_status = models.CharField(max_length=10, blank=True)
    to_status = models.CharField(max_length=10)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.CharField(max_length=200, blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("at", "id")

    def __str__(self) -> str:
        return f"ticket {self.ticket_id}: {self.from_status or '-'} -> {self.to_status}"


class Article(models.Model):
    """A knowledge-base article the merchant edits in the back-office; the assistant answers from it and cites it."""

    title = models.CharField(max_length=200)
    slug = models.SlugField(max_length=200, unique=True)
    body = models.TextField(help_text="Plain text; separate paragraphs with a blank line.")
    keywords = models.CharField(max_length=300, blank=True, help_text="Other words shoppers use for this topic.")
    is_published = models.BooleanField(default=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("title",)

    def __str__(self) -> str:
        return self.title


class Direction(models.TextChoices):
    INBOUND = "in", "Received"
    OUTBOUND = "out", "Sent"


class EmailStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    QUEUED = "queued", "Queued"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class DeliveredMessage(models.Model):
    """What every channel's record of a message keeps besides its own addresses and ids: its direction and, for an
    outgoing one, its delivery (attempts, the last error, when it went). Each channel names its own states."""

    direction = models.CharField(max_length=3, choices=Direction.choices)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.CharField(max_length=500, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        abstract = True


class MessageEmail(DeliveredMessage):
    """The e-mail a message of the e-mail channel arrived in or was sent as: what threads replies back to it.

    `message_id_header` is unique, so the same e-mail delivered twice by the provider is stored once, and a reply naming
    it in In-Reply-To/References finds its conversation. Outgoing ones keep their delivery state (each change is
    also a `ConversationEvent`), so a failed send is visible and retried, never lost.
    """

    message = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="email")
    # The Message-ID header, <...> included (the `message_id` attribute is the foreign key to Message).
    message_id_header = models.CharField(max_length=255, unique=True)
    in_reply_to = models.CharField(max_length=255, blank=True)
    # Space-separated Message-IDs, oldest first, as in the References header.
    references = models.TextField(blank=True)
    subject = models.CharField(max_length=255, blank=True)
    from_address = models.CharField(max_length=254, blank=True)
    to_address = models.CharField(max_length=254, blank=True)
    # Names of the attachments an incoming e-mail had (their content is not kept).
    attachments = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=10, choices=EmailStatus.choices)

    class Meta:
        indexes = [models.Index(fields=["status", "created_at"], name="support_email_status_idx")]

    def __str__(self) -> str:
        return f"{self.get_direction_display()} {self.message_id_header}"


class TextStatus(models.TextChoices):
    """A text message's state: Twilio's own names (queued, sending, sent, delivered, read, undelivered, failed), plus
    Patron's before Twilio has it (pending) and when it must not go at all (opted out)."""

    RECEIVED = "received", "Received"
    PENDING = "pending", "Waiting to be sent"
    QUEUED = "queued", "Queued at Twilio"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    DELIVERED = "delivered", "Delivered"
    READ = "read", "Read"
    UNDELIVERED = "undelivered", "Undelivered"
    FAILED = "failed", "Failed"
    OPTED_OUT = "opted_out", "Not sent: the customer opted out"


class MessageText(DeliveredMessage):
    """The SMS or WhatsApp message a message of a text channel arrived as or was sent as (through Twilio).

    `sid` is Twilio's MessageSid, unique: a webhook Twilio delivers twice is stored once, and delivery reports find
    the outgoing message by it. Outgoing ones keep their delivery state (each change is also a `ConversationEvent`),
    so a failed send is visible and retried, never lost.
    """

    message = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="text")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    # Empty until Twilio has accepted an outgoing message (NULLs do not collide in the unique index).
    sid = models.CharField(max_length=64, unique=True, null=True, blank=True)
    # Twilio's addresses: +14155550100 for SMS, whatsapp:+14155550100 for WhatsApp.
    from_address = models.CharField(max_length=50, blank=True)
    to_address = models.CharField(max_length=50, blank=True)
    # Links to the pictures and files of an incoming message, on Twilio (not downloaded).
    media = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=12, choices=TextStatus.choices)

    class Meta:
        indexes = [models.Index(fields=["status", "created_at"], name="support_text_status_idx")]

    def __str__(self) -> str:
        return f"{self.get_direction_display()} {self.channel} {self.sid or self.pk}"


class SocialStatus(models.TextChoices):
    """A Messenger or Instagram message's state: Meta reports sent (the Send API's answer), delivered and read; a reply
    may also fail for a while (retried), be refused by Meta for good, or not be sent at all outside Meta's 24-hour
    window."""

    RECEIVED = "received", "Received"
    PENDING = "pending", "Waiting to be sent"
    SENT = "sent", "Sent"
    DELIVERED = "delivered", "Delivered"
    READ = "read", "Read"
    FAILED = "failed", "Failed (sent again later)"
    REJECTED = "rejected", "Refused by Meta"
    WINDOW_CLOSED = "window_closed", "Not sent: outside Meta's 24-hour window"


class MessageSocial(DeliveredMessage):
    """The Messenger or Instagram message a message of a social channel arrived as or was sent as (Meta's Messenger
    Platform).

    `mid` is Meta's message id, unique: an event Meta delivers twice is stored once, and delivery and read events
    find the outgoing message by it. Outgoing ones keep their delivery state (each change is also a
    `ConversationEvent`), so a failed send is visible and retried, never lost.
    """

    message = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="social")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    # Empty until Meta has accepted an outgoing message (NULLs do not collide in the unique index).
    mid = models.CharField(max_length=255, unique=True, null=True, blank=True)
    # Page-scoped ids: the customer's PSID/IGSID and the store's Page or Instagram account id.
    sender_id = models.CharField(max_length=64, blank=True)
    recipient_id = models.CharField(max_length=64, blank=True)
    # [{"type": "image", "url": "https://..."}] of an incoming message, on Meta's servers (not downloaded).
    attachments = models.JSONField(default=list, blank=True)
    # Meta's time of an incoming message: Meta's 24-hour window for replies runs from the customer's last one.
    timestamp = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=13, choices=SocialStatus.choices)

    class Meta:
        # `sent_at` is when the Send API request began: delivery and read watermarks cover the replies sent up to it.
        indexes = [
            models.Index(fields=["status", "created_at"], name="support_social_status_idx"),
            models.Index(fields=["channel", "sender_id"], name="support_social_sender_idx"),
            models.Index(fields=["channel", "recipient_id"], name="support_social_recipient_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_direction_display()} {self.channel} {self.mid or self.pk}"
