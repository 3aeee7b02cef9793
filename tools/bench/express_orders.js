// express_orders.js - the counterpart of zmesh-bench's edge section: the
// event-driven mini-project of the tutorial zmesh grew from
// (../shared/seed/inter-service-communication.txt), as it is there, with
// only the port taken from the command line and a line printed once it
// listens. Everything is in one process and nothing is durable.
//
//     node express_orders.js PORT      (needs express and uuid: see
//                                       tools/bench.sh)
const express = require('express');
const { EventEmitter } = require('events');

class EventBus extends EventEmitter {
  constructor() {
    super();
    this.setMaxListeners(100);
  }
  publish(event) {
    this.emit(event.type, event);
  }
  subscribe(eventType, handler) {
    this.on(eventType, handler);
  }
}

const EventTypes = {
  USER_CREATED: 'user.created',
  ORDER_CREATED: 'order.created',
  PAYMENT_PROCESSED: 'payment.processed',
  INVENTORY_UPDATED: 'inventory.updated'
};

class UserService {
  constructor(eventBus) {
    this.eventBus = eventBus;
    this.users = new Map();
  }
  createUser(userData) {
    const user = { id: require('uuid').v4(), ...userData, createdAt: new Date() };
    this.users.set(user.id, user);
    this.eventBus.publish({ type: EventTypes.USER_CREATED, data: user, timestamp: new Date() });
    return user;
  }
  getUser(id) {
    return this.users.get(id);
  }
}

class OrderService {
  constructor(eventBus, userService) {
    this.eventBus = eventBus;
    this.userService = userService;
    this.orders = new Map();
    this.eventBus.subscribe(EventTypes.USER_CREATED, this.handleUserCreated.bind(this));
    this.eventBus.subscribe(EventTypes.PAYMENT_PROCESSED, this.handlePaymentProcessed.bind(this));
  }
  createOrder(orderData) {
    const order = { id: require('uuid').v4(), ...orderData, status: 'pending', createdAt: new Date() };
    this.orders.set(order.id, order);
    this.eventBus.publish({ type: EventTypes.ORDER_CREATED, data: order, timestamp: new Date() });
    return order;
  }
  handleUserCreated(event) {
    console.log('New user created, setting up welcome order:', event.data.id);
  }
  handlePaymentProcessed(event) {
    console.log('Payment processed for order:', event.data.orderId);
  }
}

const app = express();
app.use(express.json());
const eventBus = new EventBus();
const userService = new UserService(eventBus);
const orderService = new OrderService(eventBus, userService);

app.post('/users', (req, res) => {
  const user = userService.createUser(req.body);
  res.status(201).json(user);
});
app.post('/orders', (req, res) => {
  const order = orderService.createOrder(req.body);
  res.status(201).json(order);
});
app.listen(Number(process.argv[2] || 3000), '127.0.0.1', () => {
  console.log('listening on ' + (process.argv[2] || 3000));
});
